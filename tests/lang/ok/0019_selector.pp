$pkg = $facts['os']['family'] ? {
  'Debian'           => 'apache2',
  /^(RedHat|CentOS)/ => 'httpd',
  default            => undef,
}
$port = $ssl ? { true => 443, default => 80 }
$n = $a + $b ? { 1 => 'one', default => 'many' }
