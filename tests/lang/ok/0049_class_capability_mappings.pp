class prod($host) {}
Class[prod] produces Cap {}
Class['cons'] consumes Cap { host => $host }
Db produces Sql
