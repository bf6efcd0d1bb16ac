file { '/etc/a':
  ensure => file
  mode   => '0644',
  owner  => 'root'
  group  => 'root',
}
notify { 'still parsed': }
