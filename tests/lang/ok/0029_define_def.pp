define apache::vhost (
  Integer $port,
  String $docroot = "/var/www/${title}",
  Enum['present', 'absent'] $ensure = 'present',
) {
  file { $docroot: ensure => directory }
}
define simple { notice($name) }
