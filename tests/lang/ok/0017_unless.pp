unless $facts['kernel'] == 'windows' {
  notice('posix')
} else {
  notice('windows')
}
unless defined(Package['git']) { package { 'git': } }
