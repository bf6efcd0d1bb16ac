service { 'x': ensure => running, enable => true }
$w = foo-bar
$q = foo::bar-baz
$r = present
include my-module::thing
