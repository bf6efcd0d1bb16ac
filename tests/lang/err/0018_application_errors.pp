application lamp(String $db_user, Integer $web_instances = ) {
  lamp::db { $name:
    export => Sql[$name]
    user   => $db_user,
  }
}
Lamp::Db produces { host => $fqdn }
Lamp::Web consumes Sql { db_host => }
site {
  lamp { 'app1': nodes => { Node['a'] => Lamp::Db['app1'] } }
