if $os =~ /^(Debian|Ubuntu)$/ {
  notice("debian-like: ${1}")
}
$no = $x !~ /a\/b/
$half = $total / 2
$ratio = ($a + $b) / $c
$other = $list[0] / 4
$pattern = Pattern[/^\d+$/]
