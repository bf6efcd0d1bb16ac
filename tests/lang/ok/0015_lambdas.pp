each($list) |String $item, Integer $index = 0| {
  notice($item)
}
$r = reduce($list, 0) |$memo, $x| { $memo + $x }
with(1, 2) |*$rest| { notice($rest) }
$list.each |Variant[String, Integer] $v| { }
$all = $list.all || { true }
