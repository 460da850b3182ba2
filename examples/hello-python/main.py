def handle(req):
    return "Hello from python!\n"
