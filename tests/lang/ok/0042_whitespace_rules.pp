notice(1)
$x = foo
(1 + 2)
$y = $list[0]
$z = [ [1], [2] ]
$w = Hash [String, Integer]
