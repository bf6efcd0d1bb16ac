file { ensure => file }
@File['x'] { mode => '0644' }
notify { 'ok': }
