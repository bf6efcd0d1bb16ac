class apache (
  String $package_name = 'apache2',
  Integer[1, 65535] $port = 80,
  Optional[String[1]] $docroot = undef,
  Hash[String, Data] $options = {},
  Boolean $ssl = $apache::params::ssl,
  $untyped,
) inherits apache::params {
  package { $package_name: ensure => installed }
}
class empty {}
class noparams inherits base { }
class with_trailing_comma($a, $b,) {}
