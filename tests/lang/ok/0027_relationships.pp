Package['ntp'] -> File['/etc/ntp.conf'] ~> Service['ntp']
Service['b'] <- Package['b']
Service['c'] <~ File['c']
package { 'x': } -> file { '/x': } ~> service { 'x': }
[Package['a'], Package['b']] -> Class['c']
Class['apt::update'] -> Package <| provider == 'apt' |>
$ref = Package['x'] -> Service['x']
