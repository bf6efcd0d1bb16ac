# A database. Here it writes its configuration into the node's working directory.
define lamp::mysql (
  String            $db_user,
  Sensitive[String] $db_password,
  Integer           $port = 3306,
) {
  file { "${facts['ordo_node_dir']}/mysql-${title}.conf":
    ensure  => file,
    content => "[mysqld]\ndatabase = ${title}\nport = ${port}\nuser = ${db_user}\n",
  }
}
