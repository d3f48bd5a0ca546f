from django.contrib import admin

from .models import Guest, GuestDocument, Message, Reservation

admin.site.register([Guest, Reservation, GuestDocument, Message])
