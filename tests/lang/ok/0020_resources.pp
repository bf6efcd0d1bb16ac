file { '/etc/motd':
  ensure  => file,
  content => "hello\n",
  mode    => '0644',
}
package { ['vim', 'git']: ensure => installed }
file {
  default:
    owner => 'root',
    group => 'root';
  '/etc/a':
    ensure => file;
  '/etc/b':
    ensure => directory,
}
user { $name: }
notify { "message for ${name}": }
apache::vhost { 'site': port => 80 }
Resource['file'] { '/tmp/dyn': ensure => file }
