$ok = "fine"
$bad = "never ${closed}
