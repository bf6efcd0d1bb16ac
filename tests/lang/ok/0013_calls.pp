notice("x")
notice('a', 'b')
include foo
include ::foo::bar, baz
contain foo::bar
require foo
realize User['alice'], User['bob']
fail "something went wrong"
tag 'web'
$v = lookup('key', String, 'first', 'default')
$n = Integer('42')
$s = Sensitive($secret)
ensure_packages(['vim'], { ensure => present })
stdlib::deferrable_epp('x.epp', {})
notice (1)
