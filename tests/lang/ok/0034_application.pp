application lamp(
  String $db_user,
  String $db_password,
  Integer $web_instances = 1,
  String $docroot = '/var/www/html',
) {
  lamp::db { $name:
    db_user     => $db_user,
    db_password => $db_password,
    export      => Sql["lamp-${name}"],
  }
  range(1, $web_instances).each |$i| {
    lamp::web { "${name}-${i}":
      docroot => $docroot,
      consume => Sql["lamp-${name}"],
      export  => Http["lamp-${name}-${i}"],
    }
  }
}
application noparams {
  notify { 'x': }
}
