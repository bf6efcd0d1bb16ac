File['/etc/motd'] {
  content => 'overridden',
}
Class['apache'] { default_mods +> ['ssl'] }
Service['a', 'b'] { ensure => stopped }
