file { '/etc/a':
  ensure => ,
  mode   => '0644',
}
$x =
$y = 2
