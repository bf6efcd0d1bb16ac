$h = { 'a' => 1, 'b' 2, 'c' => 3 }
$s = $x ? { 'a' 1, default => 2 }
$after = 1
