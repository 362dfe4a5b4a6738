module example.com/gobintest

go 1.21
