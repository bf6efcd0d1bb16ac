# The lamp application: one database and a number of web servers that consume it.
application lamp (
  String  $db_user,
  String  $db_password,
  Integer $web_instances = 1,
  Integer $db_port       = 3306,
  Integer $web_port      = 8080,
) {
  lamp::mysql { $name:
    db_user     => $db_user,
    db_password => $db_password,
    port        => $db_port,
    export      => Sql[$name],
  }

  range(1, $web_instances).each |$i| {
    lamp::webapp { "${name}-${i}":
      port    => $web_port,
      consume => Sql[$name],
    }
  }
}

# How a database becomes a Sql capability: evaluated in the database's scope.
Lamp::Mysql produces Sql {
  user     => $db_user,
  password => $db_password,
  host     => $facts['fqdn'],
  port     => $port,
  database => $name,
}

# How a Sql capability fills a web server's parameters.
Lamp::Webapp consumes Sql {
  db_name     => $database,
  db_host     => $host,
  db_port     => $port,
  db_user     => $user,
  db_password => $password,
}
