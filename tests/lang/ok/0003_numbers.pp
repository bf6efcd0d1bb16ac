$decimal = 42
$hex = 0xFF
$octal = 0755
$float = 3.14
$exp = 1e10
$exp_neg = 1.5e-3
$neg = -7
$zero = 0
