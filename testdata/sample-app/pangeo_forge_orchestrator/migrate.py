print("migrations: nothing to do")
