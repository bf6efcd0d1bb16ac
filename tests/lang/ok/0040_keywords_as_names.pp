$h = { type => 'a', application => 'b', site => 'c', produces => 'd', consumes => 'e', unit => 1 }
$t = type($x)
$site = 'main'
$application = application
notice(site, attr, private)
exec { 'x': unless => 'test', type => 'a', class => 'b', node => 'c', define => 'd', if => 'e' }
$s = "${type['name']} ${node.size}"
application { 'resource-named-application': }
