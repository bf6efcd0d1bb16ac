$a = 1 ^ 2
$b = `date`
$c = 3
