Lamp::Db produces Sql {
  host     => $facts['fqdn'],
  port     => '3306',
  user     => $db_user,
  password => $db_password,
  database => $name,
}
Lamp::Web consumes Sql {
  db_host => $host,
  db_port => $port,
}
Lamp::Web produces Http {
  ip   => $interface ? { /\S+/ => $::networking['interfaces'][$interface]['ip'], default => $::ipaddress },
  port => $web_port,
  host => $::hostname,
}
mysql::db produces Sql
wordpress::app consumes Sql
Lamp::App consumes Sql {}
