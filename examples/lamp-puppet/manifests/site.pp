# The site: two instances of the lamp application, each with one database on dev1 and
# three web servers on dev2, dev3 and dev4 (the example of Choria's documentation).
site {
  lamp { 'app1':
    db_user       => 'user',
    db_password   => 'secret',
    web_instances => 3,
    nodes         => {
      Node['dev1.example.net'] => Lamp::Mysql['app1'],
      Node['dev2.example.net'] => Lamp::Webapp['app1-1'],
      Node['dev3.example.net'] => Lamp::Webapp['app1-2'],
      Node['dev4.example.net'] => Lamp::Webapp['app1-3'],
    },
  }

  lamp { 'app2':
    db_user       => 'user',
    db_password   => 'secret',
    web_instances => 3,
    nodes         => {
      Node['dev1.example.net'] => Lamp::Mysql['app2'],
      Node['dev2.example.net'] => Lamp::Webapp['app2-1'],
      Node['dev3.example.net'] => Lamp::Webapp['app2-2'],
      Node['dev4.example.net'] => Lamp::Webapp['app2-3'],
    },
  }
}
