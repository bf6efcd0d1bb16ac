$plain = @(END)
  This is text with $no interpolation.
  END
$margin = @(END)
    indented
      more
    | END
$trimmed = @(EOT)
  no final newline
  |- EOT
notice($plain)
