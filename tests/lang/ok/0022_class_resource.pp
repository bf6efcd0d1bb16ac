class { 'apache':
  default_mods  => false,
  default_vhost => false,
}
class { '::ntp': servers => ['a', 'b'] }
