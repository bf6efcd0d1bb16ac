$x = 1
$::top = $x
$a::b = $::top
$c = $a::b::c
$list += ['more']
$d = $e = 'chained'
$match = $1
