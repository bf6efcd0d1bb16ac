site {
  lamp { 'app1':
    db_user       => 'wordpress',
    db_password   => 'secret',
    web_instances => 2,
    nodes         => {
      Node['dev1.example.net'] => Lamp::Db['app1'],
      Node['dev2.example.net'] => [Lamp::Web['app1-1'], Lamp::Web['app1-2']],
    },
  }
  Lamp::Db produces Sql {
    user => $db_user,
    host => pick($::mysql_host_override, $::fqdn),
  }
}
