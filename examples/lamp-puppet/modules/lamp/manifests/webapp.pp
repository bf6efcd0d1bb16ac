# A web server whose configuration points at the database it consumes.
define lamp::webapp (
  String            $db_name,
  String            $db_host,
  String            $db_user,
  Sensitive[String] $db_password,
  Integer           $db_port = 3306,
  Integer           $port    = 8080,
) {
  file { "${facts['ordo_node_dir']}/webapp-${title}.conf":
    ensure  => file,
    content => "listen = ${port}\ndatabase_url = mysql://${db_user}@${db_host}:${db_port}/${db_name}\n",
  }
}
