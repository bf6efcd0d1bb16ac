$hash.each |$key, $value| {
  notice("${key}=${value}")
}
$doubled = $list.map |$x| { $x * 2 }.join(', ')
$size = $list.length
$up = 'abc'.upcase()
$filtered = $h.filter |$k, $v| { $v != undef }.keys.sort
3.each |$i| { notice($i) }
$x = $facts['networking'].dig('interfaces', 'eth0')
