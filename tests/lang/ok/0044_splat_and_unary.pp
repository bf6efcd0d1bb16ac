$args = ['a', 'b']
notice(*$args)
$combined = [*$args, 'c']
$neg = -$x
$not = !$x
$double = !!$x
