return require('header_auth')
