$x = @(END)
  text
  never ended
