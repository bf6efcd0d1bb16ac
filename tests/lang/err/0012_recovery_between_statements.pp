$a = = 1
notify { 'first good': }
$b = [1, 2
notify { 'second good': }
package { 'p': ensure => installed ) }
notify { 'third good': }
class broken ( $x = ) { notify { 'inside': } }
notify { 'fourth good': }
