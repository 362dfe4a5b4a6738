module inl

go 1.17
