if $x {
  notice('x')
} elsif $y == 'present' {
  notice('y')
} elsif $z in ['a', 'b'] {
  notice('z')
} else {
  notice('none')
}
if defined(Class['apache']) { include apache }
if !$enabled and $facts['os']['family'] == 'Debian' {}
$v = if $a { 1 } else { 2 }
if $x == present { file { '/tmp/x': } }
