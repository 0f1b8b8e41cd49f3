return require('my_stuff')
