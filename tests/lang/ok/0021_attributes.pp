exec { 'run':
  command   => '/bin/true',
  unless    => '/bin/false',
  require   => Package['x'],
  before    => File['/y'],
  notify    => Service['z'],
  subscribe => [File['a'], File['b']],
}
lamp::db { 'app':
  export  => Sql['app'],
  consume => Http['web'],
  *       => $extra_params,
}
Package['x'] { tag +> 'more' }
