case $facts['os']['family'] {
  'Debian', 'Ubuntu': {
    $pkg = 'apache2'
  }
  /^(RedHat|CentOS)$/: { $pkg = 'httpd' }
  'Windows': {}
  default: {
    fail("unsupported: ${facts['os']['family']}")
  }
}
$v = case $x { 1, 2: { 'low' } default: { 'high' } }
