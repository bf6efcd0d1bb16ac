# Überschrift: café
$greeting = "héllo ${name} ✓"
notify { 'naïve': message => 'ünïcödé' }
