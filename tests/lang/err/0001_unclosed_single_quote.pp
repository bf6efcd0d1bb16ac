$ok = 'fine'
$bad = 'never closed
notice($ok)
