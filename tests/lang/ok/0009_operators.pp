$a = 1 + 2 * 3 - 4 / 2 % 3
$b = (1 + 2) * 3
$c = $x == 1 and $y != 2 or !$z
$d = $x < 1 or $x >= 10 and $x <= 20 or $x > 30
$e = 1 << 2 >> 1
$f = 'a' in ['a', 'b']
$g = -$x + - 1
$h = !($a and $b)
$i = $h == $x in $y
