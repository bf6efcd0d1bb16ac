$a = @(END/q)
  text
  END
$b = @(:json)
$c = @(X
notice('after')
