@user { 'alice': uid => 1001 }
@@nagios_service { "check_${facts['fqdn']}":
  host_name => $facts['fqdn'],
}
@@apache::balancermember { $name: url => "http://${name}" }
realize(User['alice'])
