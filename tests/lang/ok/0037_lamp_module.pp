# The LAMP application module from the Puppet Enterprise 2017.2
# application orchestration guide, with its capability mappings.

# Creates and manages a database
define lamp::db (
  $db_user,
  $db_password,
  $host = $::fqdn,
  $port = 3306,
  $database = $name,
) {
  notify { "Hello! This is the ${name}'s lamp::db component": }

  include mysql::bindings::php

  mysql::db { $name:
    user     => $db_user,
    password => $db_password,
  }
}

Lamp::Db produces Sql {
  user     => $db_user,
  password => $db_password,
  host     => pick($::mysql_host_override, $::fqdn),
  database => $database,
  type     => 'mysql',
}

# Creates and manages an app server
define lamp::app (
  $docroot,
  $db_name,
  $db_port,
  $db_user,
  $db_host,
  $db_password,
  $host = $::fqdn,
) {
  notify { "Hello! This is the ${name}'s lamp::app component": }
}

Lamp::App consumes Sql {
  db_name     => $database,
  db_host     => $host,
  db_port     => $port,
  db_user     => $user,
  db_password => $password,
}

define lamp::web (
  $port = '80',
  $docroot = '/var/www/html',
) {
  class { 'apache':
    default_mods  => false,
    default_vhost => false,
  }

  apache::vhost { $name:
    port    => $port,
    docroot => $docroot,
  }
}

Lamp::Web produces Http {
  host => $::fqdn,
  port => $port,
}

application lamp (
  $db_user,
  $db_password,
  $docroot = '/var/www/html',
) {
  lamp::web { $name:
    docroot => $docroot,
    export  => Http["lamp-${name}"],
  }

  lamp::app { $name:
    docroot => $docroot,
    consume => Sql["lamp-${name}"],
  }

  lamp::db { $name:
    db_user     => $db_user,
    db_password => $db_password,
    export      => Sql["lamp-${name}"],
  }
}

site {
  lamp { 'stack':
    db_user     => 'lamp',
    db_password => 'secret',
    nodes       => {
      Node['database.vm']  => Lamp::Db['stack'],
      Node['appserver.vm'] => [Lamp::App['stack'], Lamp::Web['stack']],
    },
  }
}
